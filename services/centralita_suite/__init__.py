"""The composition root: the ``centralita`` command, ``centralita run``'s supervisor, and the process that
mounts the chat on the gateway. It is the only package that imports several parts (``.importlinter``).
"""
