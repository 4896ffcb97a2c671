"""Fixtures for popgate's integration tests: a private Dovecot, TLS material, the popgate
process, a scripted fault backend, a raw POP3 client and mail generation.

Every fixture takes its own temp dir and its own loopback ports, so test files run side by side
(`ctest -j2`). Processes are stopped by the PID we started, never by name: other Dovecots may run
on the same machine.
"""
