"""The path controller (3, 31): routes each LU's frames to one controller, and holds them
while a take-over suspends the LU (Steps 806-809)."""

from __future__ import annotations

from reference_impl.frames import Frame, Status


class PathController:
    def __init__(
        self, routes: dict[int, int], bugs: frozenset[str] = frozenset(), cables: tuple[int, ...] = ()
    ) -> None:
        self.routes = dict(routes)  # LU -> controller its frames go to
        self.cables = cables  # host -> the controller its cable reaches (Fig. 6), if cabled
        self.suspended: set[int] = set()
        self.frames: list[Frame] = []  # frames received and not yet delivered, in order
        self.bugs = bugs
        # Where a frame held across a take-over goes once released: only a buggy path
        # controller pins held frames to the route they had when the LU was suspended.
        self._pinned: dict[int, int] = {}  # id(frame) -> controller

    def receive(self, frame: Frame) -> None:
        frame.status, frame.controller = Status.AT_PATH, None
        self.frames.append(frame)

    def can_deliver(self, frame: Frame) -> bool:
        return frame.lu not in self.suspended

    def route_of(self, frame: Frame) -> int:
        if frame.host < len(self.cables):
            return self.cables[frame.host]
        return self._pinned.get(id(frame), self.routes[frame.lu])

    def take(self, frame: Frame) -> None:
        self.frames.remove(frame)
        self._pinned.pop(id(frame), None)

    def suspend(self, lu: int) -> None:
        """806: hold every frame of the LU from now on."""
        self.suspended.add(lu)

    def switch(self, lu: int, controller: int) -> None:
        """807: the LU's frames go to ``controller`` from now on."""
        self.routes[lu] = controller

    def resume(self, lu: int, old_route: int) -> None:
        """809: release the LU's held frames (to its route, which 807 changed)."""
        self.suspended.discard(lu)
        if "release-to-old-controller" in self.bugs:
            for frame in self.frames:
                if frame.lu == lu:
                    self._pinned[id(frame)] = old_route
