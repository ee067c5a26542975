"""Test doubles and sample data shared by tests, benchmarks, ``make run`` and the dev deployment.

The MikroTik API simulator, the legal sample-corpus and judged-question generators, the fake
Asterisk, fake Realtime and fake chat servers, the RTP peer, espeak-ng speech and the echo gRPC
service. Product packages never import this package (``.importlinter``); the composition root
(``centralita_suite``) does, for ``centralita mikrotik-sim``, ``legal-sample`` and ``make run``.
Nothing is imported here, so a command that needs one fixture loads only that fixture's dependencies.
"""
