"""The CPU a benchmark names in its JSON (parley_testkit.machine)."""

from __future__ import annotations

from parley_testkit.machine import cpu_summary

ZEN4 = """processor\t: 0
vendor_id\t: AuthenticAMD
cpu family\t: 25
model\t\t: 17
model name\t: AMD EPYC 9R14 96-Core Processor
flags\t\t: fpu sse2 avx2 avx512f avx512_vnni avx512_bf16

processor\t: 1
cpu family\t: 6
model\t\t: 207
model name\t: something else
flags\t\t: amx_int8
"""


def test_the_first_processor_is_described_with_the_isa_that_decides_whisper_speed() -> None:
    cpu = cpu_summary(ZEN4)
    assert (cpu["model"], cpu["family"], cpu["model_id"]) == ("AMD EPYC 9R14 96-Core Processor", 25, 17)
    assert cpu["isa"] == ["avx2", "avx512f", "avx512_vnni", "avx512_bf16"]  # no AMX: that was CPU 1's


def test_a_machine_without_cpuinfo_still_gets_a_summary() -> None:
    cpu = cpu_summary("")
    assert cpu["family"] is None and cpu["model_id"] is None and cpu["isa"] == []
    assert cpu["cores"] >= 1
