"""What an array is built from (its LUs, controllers, ports, block size) and what is done
to it (hosts' workloads, the operator's designations): plain records, checked on entry."""

from __future__ import annotations

import itertools
from dataclasses import dataclass, field


class ConfigError(ValueError):
    """An array or workload that cannot be built; the message names the field."""


@dataclass(frozen=True)
class LuConfig:
    lu: int
    ext_lun: int
    port: int
    default: int
    current: int
    blocks: int
    raid_group: int = 0
    raid_level: int = 5
    physical_address: int = 0


@dataclass(frozen=True)
class PairConfig:
    """Embodiment 2 (Fig. 6): the secondary mirrors the primary."""

    primary: int
    secondary: int


@dataclass(frozen=True)
class ArrayConfig:
    controllers: int
    ports: int
    lus: tuple[LuConfig, ...]
    block_size: int = 4096
    background_destage: bool = False  # write-back caches de-stage dirty lines on their own
    pairs: tuple[PairConfig, ...] = ()
    # Host h's cable goes straight to controller cables[h] (Fig. 6); empty: every host reaches
    # the array through the path controller (Fig. 1).
    cables: tuple[int, ...] = ()

    def check(self) -> None:
        if self.controllers < 1 or self.ports < 1:
            raise ConfigError("an array needs at least one controller and one port")
        extents: list[tuple[int, int, int]] = []
        for i, lu in enumerate(self.lus):
            where = f"lu[{i}]"
            if lu.lu != i:
                raise ConfigError(f"{where}.lu: internal LUNs run 0..n-1 in order, found {lu.lu}")
            for name in ("default", "current"):
                if not 0 <= getattr(lu, name) < self.controllers:
                    raise ConfigError(f"{where}.{name}: there is no controller {getattr(lu, name)}")
            if not 0 <= lu.port < self.ports:
                raise ConfigError(f"{where}.port: there is no port {lu.port}")
            if lu.blocks < 1 or lu.physical_address < 0 or lu.ext_lun < 0:
                raise ConfigError(f"{where}: blocks must be positive, address and external LUN not negative")
            extents.append((lu.physical_address, lu.physical_address + lu.blocks, lu.lu))
        in_pairs: set[int] = set()
        for i, pair in enumerate(self.pairs):
            for name in ("primary", "secondary"):
                lu = getattr(pair, name)
                if not 0 <= lu < len(self.lus) or lu in in_pairs:
                    raise ConfigError(f"pair[{i}].{name}: LU{lu} does not exist or is in another pair")
                in_pairs.add(lu)
            if self.lus[pair.primary].blocks != self.lus[pair.secondary].blocks:
                raise ConfigError(f"pair[{i}]: a mirror has as many blocks as its primary")
        for h, c in enumerate(self.cables):
            if not 0 <= c < self.controllers:
                raise ConfigError(f"cables[{h}]: there is no controller {c}")
        self._check_lun_map()
        extents.sort()
        for (_, end, a), (start, _, b) in itertools.pairwise(extents):
            if start < end:
                raise ConfigError(f"lu[{b}].physical_address: the extents of LU{a} and LU{b} overlap")

    def _check_lun_map(self) -> None:
        """Each (controller, port) presents external LUNs 0..n-1, each once: hosts scan from
        LUN 0 and may stop at a gap."""
        per_port: dict[tuple[int, int], list[int]] = {}
        for lu in self.lus:
            per_port.setdefault((lu.current, lu.port), []).append(lu.ext_lun)
        for (c, port), luns in sorted(per_port.items()):
            if sorted(luns) != list(range(len(luns))):
                raise ConfigError(
                    f"lu[].ext_lun: port {port} of controller {c} would present external LUNs "
                    f"{sorted(luns)}, not 0..n-1 each once"
                )

    @property
    def data_blocks(self) -> int:
        return max((lu.physical_address + lu.blocks for lu in self.lus), default=0)


@dataclass(frozen=True)
class HostConfig:
    name: str
    writes: tuple[int, ...] = ()  # LUs this host writes (each LU has at most one writer)
    reads: tuple[int, ...] = ()


@dataclass(frozen=True)
class BatchConfig:
    """One designation of a script: LUs moved together to ``destination``."""

    lus: tuple[int, ...]
    destination: int
    port: int | None = None  # None: each LU keeps its port
    ext_luns: tuple[int, ...] | None = None  # None: each LU keeps its external LUN


@dataclass(frozen=True)
class Workload:
    """What the hosts and the operator do in a simulated run."""

    hosts: tuple[HostConfig, ...]
    writes_per_block: int = 1
    reads_per_block: int = 0
    mode: str = "scripted"  # "scripted": the batches in order; "any": any LU to any controller
    batches: tuple[BatchConfig, ...] = field(default=())
    budget: int = 0  # "any": how many take-overs the operator designates at most
    takeover_port: int = 0  # "any": the port a moved LU gets on its destination
    backups: tuple[int, ...] = ()  # embodiment 2: the pairs backed up, one cycle each, in order
    crashes: int = 0  # crashes of the whole array a simulated run may suffer
