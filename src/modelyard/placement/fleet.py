"""The fleet: servers and their GPUs, as declared in `modelyard.yaml`."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from modelyard.catalog.naming import check_name


class _Strict(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=True)


class Dedication(_Strict):
    """Isolation: only models of these domains or teams may run here."""

    domains: list[str] = Field(default_factory=list)
    teams: list[str] = Field(default_factory=list)

    def admits(self, domain: str, team: str) -> bool:
        return domain in self.domains or team in self.teams


class Gpu(_Strict):
    index: Annotated[int, Field(ge=0)]
    model: str = "unknown"
    memory_mb: Annotated[int, Field(gt=0)]
    dedicated_to: Dedication | None = None


class Server(_Strict):
    name: str
    url: str | None = None
    # The folder this server's Triton reads (--model-repository), for `deploy --fleet`.
    repository: str | None = None
    cpu_cores: Annotated[float, Field(gt=0)]
    memory_mb: Annotated[int, Field(gt=0)]
    labels: dict[str, str] = Field(default_factory=dict)
    gpus: list[Gpu] = Field(default_factory=list)
    dedicated_to: Dedication | None = None

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        return check_name(value, "server name")

    @model_validator(mode="after")
    def _unique_gpu_indexes(self) -> Server:
        indexes = [gpu.index for gpu in self.gpus]
        if len(set(indexes)) != len(indexes):
            raise ValueError(f"server {self.name}: GPU indexes must be unique, got {indexes}")
        return self

    @property
    def gpu_memory_mb(self) -> int:
        return sum(gpu.memory_mb for gpu in self.gpus)


class Fleet(_Strict):
    servers: list[Server] = Field(default_factory=list)

    @model_validator(mode="after")
    def _unique_names(self) -> Fleet:
        names = [server.name for server in self.servers]
        duplicates = sorted({n for n in names if names.count(n) > 1})
        if duplicates:
            raise ValueError(f"server {duplicates[0]!r} is declared twice")
        return self

    @property
    def cpu_cores(self) -> float:
        return sum(server.cpu_cores for server in self.servers)

    @property
    def memory_mb(self) -> int:
        return sum(server.memory_mb for server in self.servers)

    @property
    def gpu_memory_mb(self) -> int:
        return sum(server.gpu_memory_mb for server in self.servers)

    @property
    def largest_gpu_mb(self) -> int:
        return max((gpu.memory_mb for s in self.servers for gpu in s.gpus), default=0)

    @property
    def largest_server_memory_mb(self) -> int:
        return max((s.memory_mb for s in self.servers), default=0)

    @property
    def largest_server_cpu_cores(self) -> float:
        return max((s.cpu_cores for s in self.servers), default=0.0)
