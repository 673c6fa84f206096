"""Settings: the only code that reads `SAM3_*` environment variables. Built once per process."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

TINY_RANDOM = "tiny-random"
MIN_LINK_SECRET_BYTES = 32
# The text that deploy/ ships in place of a real SAM3_LINK_SECRET.
LINK_SECRET_PLACEHOLDER = "the same random secret for every replica (openssl rand -hex 32)"


class Settings(BaseSettings):
    """Every knob of the service. Defaults run on a laptop with no external server."""

    model_config = SettingsConfigDict(env_prefix="SAM3_", env_file=".env", extra="ignore")

    # Model
    model: str = Field(
        "facebook/sam3",
        description="A local folder, a Hugging Face id already in the local cache, or "
        f"'{TINY_RANDOM}' for a tiny randomly initialised SAM 3 (development only).",
    )
    model_fallback_to_tiny: bool = Field(
        False, description="If the model cannot load, serve the tiny random model instead."
    )
    device: Literal["auto", "cpu", "cuda"] = "auto"
    score_threshold: float = Field(0.5, ge=0, le=1)
    mask_threshold: float = Field(0.5, ge=0, le=1)
    vision_cache_bytes: int = Field(1 << 30, ge=0, description="LRU of image features, bytes.")
    text_cache_entries: int = Field(1024, ge=0, description="LRU of text embeddings, entries.")

    # Model hub: automatic rollback of a canary, and the memory that loaded versions may use
    rollback_min_requests: int = Field(
        50, ge=1, description="Requests a canary answers before it is judged for rollback."
    )
    rollback_window_requests: int = Field(
        500,
        ge=1,
        description="The sliding window: the last requests of each version that are judged "
        "(at least SAM3_ROLLBACK_MIN_REQUESTS).",
    )
    rollback_max_error_rate_increase: float = Field(
        0.05,
        ge=0,
        le=1,
        description="A canary whose error rate exceeds the stable version's by more "
        "(0.05: five points) is rolled back.",
    )
    rollback_max_p95_ratio: float = Field(
        1.5,
        ge=1,
        description="A canary whose p95 latency exceeds this many times the stable "
        "version's is rolled back.",
    )
    routing_poll_s: float = Field(
        1.0,
        gt=0,
        le=60,
        description="Seconds between reads of the model routing table (how soon a change "
        "made by another replica or the CLI applies here).",
    )
    model_memory_budget: int | Literal["auto"] = Field(
        "auto",
        description="Bytes that loaded model versions may take together (GPU memory with a "
        "GPU, RAM otherwise); a load that would not fit is refused. auto: what the device "
        "has free when the load starts.",
    )

    # Performance
    torch_threads: int = Field(
        0,
        ge=0,
        description="torch threads per model process; 0: the cores this process may use "
        "(CPU affinity and cgroup quota) divided by SAM3_MODEL_PROCESSES.",
    )
    model_processes: int = Field(
        0,
        ge=0,
        description="Model processes sharing this machine's cores; 0: the worker's "
        "processes (SAM3_WORKER_CONCURRENCY, 1 with solo and for `serve`). Set it when "
        "several workers share one machine.",
    )
    batch_window_ms: float | None = Field(
        None,
        ge=0,
        description="How long an image waits for others to share one image-encoder batch; "
        "0: no batching; empty: 5 on a GPU, 0 on the CPU.",
    )
    max_batch: int = Field(8, ge=1, description="Most images in one image-encoder batch.")
    compile_vision: bool | None = Field(
        None,
        description="torch.compile the vision backbone (static shapes); empty: on a GPU only.",
    )
    attention: Literal["sdpa", "eager", "flash_attention_2"] = Field(
        "sdpa", description="The attention kernels (transformers' attn_implementation)."
    )

    # HTTP
    host: str = "127.0.0.1"
    port: int = Field(8000, ge=1, le=65535)
    sync_timeout_s: float = Field(120, gt=0, description="Wait of POST /v1/segment via a queue.")
    allow_anonymous: bool = Field(
        False,
        description="Serve without API keys on an address other than loopback (auth off).",
    )
    http_keep_alive_s: int = Field(
        75,
        ge=1,
        description="Idle keep-alive connections close after; longer than clients keep them "
        "(httpx 5 s, nginx upstream 4 s), so that the client is the side that closes.",
    )
    shutdown_drain_s: float = Field(
        2.0, ge=0, description="On SIGTERM: seconds of /ready 503 `stopping` before stopping."
    )
    http_max_header_bytes: int = Field(
        16 << 10, ge=1024, description="Largest request line and headers, bytes."
    )
    http_max_connections: int = Field(
        1024, ge=1, description="Connections (idle ones too) and requests at once; more get 503."
    )

    # Input limits
    max_upload_bytes: int = Field(32 << 20, gt=0)
    max_image_side: int = Field(4096, gt=0)
    max_prompt_chars: int = Field(200, gt=0)
    max_boxes: int = Field(16, gt=0)
    max_points: int = Field(32, gt=0)

    # Video limits (checked before a video task is queued)
    max_video_bytes: int = Field(128 << 20, gt=0, description="Largest video upload.")
    max_video_seconds: float = Field(30, gt=0, description="Longest video.")
    max_video_fps: float = Field(60, gt=0, description="Highest frame rate of a video.")
    max_video_frames: int = Field(
        1800, gt=0, description="Most frames in a video (its header's count)."
    )
    max_video_long_side: int = Field(1920, gt=0, description="1080p: 1920x1080 either way round.")
    max_video_short_side: int = Field(1080, gt=0)
    max_video_objects: int = Field(
        32, ge=1, description="Objects tracked at once in a video (each costs time per frame)."
    )

    # Backends: one URL each; the defaults are the embedded implementations
    data_dir: Path = Field(Path("var"), description="Where embedded backends keep their files.")
    database_url: str = Field("", description="Empty: SQLite under data_dir.")
    storage_url: str = Field("", description="Empty: file:// under data_dir.")
    redis_url: str = Field("", description="Empty: in-memory cache.")
    broker_url: str = Field("", description="Empty: in-process queue and worker.")
    result_ttl_s: int = Field(24 * 3600, gt=0, description="How long cached results live.")
    inprocess_workers: int = Field(1, ge=1, description="Worker coroutines of the embedded queue.")
    max_queue_depth: int = Field(1000, ge=1)
    s3_endpoint_url: str = Field("", description="S3 server other than AWS (MinIO, SeaweedFS).")

    # Workers (`sam3-service worker`, with SAM3_BROKER_URL)
    broker_queue: str = Field("sam3.tasks", description="RabbitMQ queue (and <name>.dead).")
    worker_pool: Literal["prefork", "solo"] = Field(
        "prefork",
        description="prefork: jobs in child processes, with time limits; solo: in the worker.",
    )
    worker_concurrency: int = Field(
        1, ge=1, description="A prefork worker's child processes, each with its own model."
    )
    task_max_attempts: int = Field(4, ge=1, description="Deliveries of a task before it fails.")
    task_retry_backoff_s: float = Field(
        2.0, gt=0, description="Wait before the first retry; doubles each time, up to 60 s."
    )
    task_soft_time_limit_s: float = Field(300, gt=0, description="A longer job fails (prefork).")
    task_time_limit_s: float = Field(360, gt=0, description="Its process is killed after this.")
    worker_heartbeat_s: float = Field(5, gt=0, description="How often a worker reports its state.")
    route_by_image: bool = Field(
        True,
        description="Send the tasks of one image to one worker (its feature cache is warm); "
        "false: any worker of the task's model version.",
    )
    affinity_wait_s: float = Field(
        3.0,
        gt=0,
        description="How long a task waits for its busy or lost worker before any worker of "
        "its version takes it (the API and the workers must agree).",
    )
    worker_metrics_port: int = Field(
        0, ge=0, le=65535, description="Port of a worker's Prometheus metrics (0: none)."
    )

    # Security
    auth_enabled: bool = Field(
        False, description="Require an API key on /v1 (keys: `sam3-service keys create`)."
    )
    default_rate_per_min: int = Field(
        60, ge=1, description="Requests per minute allowed to a new API key without --rate."
    )
    link_secret: str = Field(
        "",
        description="HMAC key for share links, 32 bytes or more (`openssl rand -hex 32`); "
        "required with SAM3_AUTH_ENABLED, else empty means random per start.",
    )
    link_ttl_s: int = Field(7 * 24 * 3600, gt=0)

    log_level: str = "INFO"
    log_format: Literal["auto", "json", "text"] = Field(
        "auto", description="auto: JSON lines unless stderr is a terminal."
    )
    metrics_enabled: bool = Field(True, description="Serve Prometheus metrics at /metrics.")

    # Model hub: shadow traffic, compared with the served results
    shadow_max_in_flight: int = Field(
        2,
        ge=0,
        description="Shadow runs at once per API process; past them a shadow copy of a "
        "request is dropped (and counted). 0: no shadow traffic.",
    )
    shadow_min_iou: float = Field(
        0.5,
        gt=0,
        le=1,
        description="The mask IoU from which a shadow's object matches a served one.",
    )

    @field_validator("model_memory_budget")
    @classmethod
    def _positive_budget(cls, value: int | str) -> int | str:
        if isinstance(value, int) and value <= 0:
            raise ValueError("a memory budget is a positive number of bytes, or auto")
        return value

    @model_validator(mode="after")
    def _window_holds_the_minimum(self) -> Settings:
        if self.rollback_window_requests < self.rollback_min_requests:
            raise ValueError(
                "SAM3_ROLLBACK_WINDOW_REQUESTS must be at least SAM3_ROLLBACK_MIN_REQUESTS"
            )
        return self

    @field_validator("data_dir")
    @classmethod
    def _absolute(cls, value: Path) -> Path:
        return value.expanduser().resolve()

    @property
    def resolved_database_url(self) -> str:
        return self.database_url or f"sqlite:///{self.data_dir / 'sam3.db'}"

    @property
    def resolved_storage_url(self) -> str:
        return self.storage_url or (self.data_dir / "blobs").as_uri()

    @property
    def worker_heartbeat_file(self) -> Path:
        """Touched by each worker process at each heartbeat (`sam3-service worker-alive`)."""
        return self.data_dir / "worker-heartbeat"

    @property
    def models_dir(self) -> Path:
        return self.data_dir / "models"
