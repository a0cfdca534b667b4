"""The array's events and the model's labels: one map, both ways.

The array names each step as the model does and gives the same arguments in the same
order, so the map is the identity on names and numbers; it still lives here, in one place,
so an array whose vocabulary differs (another implementation) changes this module only.
The reference array takes no internal step that the model does not name: a queue hand-off
or a file write happens inside the step it belongs to, so it has no stutter steps."""

from __future__ import annotations

from model.labels import Label
from reference_impl.events import Event


def label_of(event: Event) -> Label:
    return Label(event.name, tuple(event.args))


def event_of(label: Label) -> Event:
    return Event(label.action, tuple(label.args))
