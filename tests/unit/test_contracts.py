"""The TypeScript side of every contract is generated from the Python models: the committed
frontend/src/contracts.ts and mediasoup-node/src/contracts.ts must be what the models render now
(`make contracts` rewrites them), and the caption socket's messages parse as their models."""

from __future__ import annotations

import functools
import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import pytest
from parley_common import caption_messages as cm
from parley_common.schemas import Caption, CaptionType, SfuCommand
from pydantic import ValidationError

ROOT = Path(__file__).resolve().parents[2]


@functools.cache
def generator() -> ModuleType:
    spec = importlib.util.spec_from_file_location("gen_contracts", ROOT / "scripts" / "gen_contracts.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["gen_contracts"] = module  # its dataclasses look their module up
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("target", generator().TARGETS, ids=lambda t: t.path)
def test_the_committed_typescript_is_what_the_models_render(target: object) -> None:
    gen = generator()
    assert (ROOT / target.path).read_text() == gen.render(target), (  # type: ignore[attr-defined]
        f"{target.path} drifted from the Python models: run `make contracts`"  # type: ignore[attr-defined]
    )


def test_a_changed_model_changes_the_typescript() -> None:
    gen = generator()

    class SfuCommandV2(SfuCommand):
        reason: str = ""

    [sfu] = [t for t in gen.TARGETS if t.path.startswith("mediasoup-node")]
    changed = gen.Target(sfu.path, sfu.style, {**sfu.roots, "SfuCommand": SfuCommandV2}, sfu.about, sfu.flat)
    text = gen.render(changed)
    assert text != gen.render(sfu) and "\treason: string;" in text


def caption() -> Caption:
    return Caption(
        type=CaptionType.FINAL,
        id="r/a/0",
        room="r",
        speaker="a",
        utt=0,
        lang="en",
        text="hi",
        source_lang="en",
        source_text="hi",
        start=0,
        end=1,
    )


def test_server_messages_parse_as_their_models_and_others_do_not() -> None:
    sent = [
        cm.Hello(room="r", lang="es", languages=["es"]).to_json(),
        cm.CaptionEvent(event_id="1-0", caption=caption()).to_json(),
        cm.CaptionEvent(event_id="1-0", caption=caption(), earlier=True).to_json(),
        cm.Retract(event_id="2-0", id="r/a/1").to_json(),
        cm.LangSwitched(lang="es", pending=["r/a/0"]).to_json(),
        cm.ErrorMessage(error="bad lang").to_json(),
        cm.Pong().to_json(),
    ]
    assert "earlier" not in sent[1] and sent[2]["earlier"] is True
    assert [type(cm.SERVER_MESSAGE.validate_python(m)).__name__ for m in sent] == [
        "Hello",
        "CaptionEvent",
        "CaptionEvent",
        "Retract",
        "LangSwitched",
        "ErrorMessage",
        "Pong",
    ]
    for bad in ({"type": "hello", "room": "r"}, {"type": "caption", "event_id": "1-0"}, {"type": "bye"}):
        with pytest.raises(ValidationError):
            cm.SERVER_MESSAGE.validate_python(bad)
    assert cm.CLIENT_MESSAGE.validate_python({"type": "set_lang", "lang": "es"}) == cm.SetLang(lang="es")
