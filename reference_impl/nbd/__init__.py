"""The array's NBD front end: real block clients (qemu-img, nbdcopy, nbdinfo, fio) as hosts.

``codec`` is the protocol, sans-I/O; ``server`` puts it on sockets, a listening socket per
host so that each host sees only its own exports."""
