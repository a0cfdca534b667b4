"""The reference array: the take-over protocol as running software.

Components shaped like an array's (controllers with dedicated caches of byte blocks, a
path controller holding frames, a management utility driving Steps 801-809, a disk
apparatus kept in a file with its configuration table at a predetermined position),
exchanging frames and commands. Each component is sans-I/O: it changes its own state when
told an event and says what it would do next; a driver decides what happens when
(``simulator``, one thread and a seeded choice; ``runtime``, a thread per component).

Every step the array takes is an ``Event`` named like the step of the patent it performs,
so a run can be compared with the model step by step (``conformance``). This package
imports the standard library only: it is a second, independent account of the protocol.
"""
