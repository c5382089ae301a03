"""Ingest settings (PARLEY_INGEST_* and the shared PARLEY_* variables)."""

from __future__ import annotations

from parley_common.settings import BaseServiceSettings
from pydantic import Field
from pydantic_settings import SettingsConfigDict


class IngestSettings(BaseServiceSettings):
    model_config = SettingsConfigDict(env_prefix="PARLEY_INGEST_", extra="ignore")

    # Where the SFU's PlainTransports send (GATEWAY_RTP_HOST/PORT on the SFU side). An address, a
    # host name, or a CIDR network (bind to this host's address in it); never every interface:
    # the RTP is plain, not SRTP, and belongs on the internal network only (parley_ingest.bind).
    rtp_host: str = "127.0.0.1"
    rtp_port: int = Field(default=5004, ge=0, le=65535)  # 0: any free port (tests)
    jitter_ms: int = Field(default=40, ge=0, le=40)  # reordering wait before a gap is concealed
    queue_max: int = Field(default=20000, ge=100)  # frames waiting for Redis (40 s of 10 speakers)
    outage_s: float = Field(default=10.0, gt=0)  # a write waits this long for Redis, then is dropped
    replay_s: float = Field(default=2.0, ge=0)  # a lone Redis: frames appended again after an outage
    replay_max_s: float = Field(default=60.0, ge=0)  # Sentinel: kept until a replica has them, at most
    anchor_ttl_s: int = Field(default=7 * 24 * 3600, ge=3600)  # a producer's media timeline in Redis
    # A replica's first frame of a speaker (after it started, or after a gap it saw) waits up to
    # this long for another replica that is behind to fill the stream up to it: stream ids only
    # grow, so appending it first would make Redis refuse the frames in between (parley_ingest.writer).
    peer_wait_ms: int = Field(default=1000, ge=0, le=10000)
    # A frame made up for packets this replica lost (concealment, silence) waits up to this long
    # after the loss showed for another replica, which may have received them, to append the real
    # audio first (parley_ingest.writer). The most a loss adds to the stream's latency.
    fill_wait_ms: int = Field(default=1000, ge=0, le=10000)
