"""Where the worker's engine runs: the calls it serves and the thread or process hosting it.

``calls.py`` is the engine's side (plain data in and out), ``client.py`` the worker's async
handle and the in-thread host, ``process.py`` the child-process host, ``staging.py`` the
batch's stored states as the engine's user mapping, ``build.py`` the engine from settings.
No faust and no Kafka client here.
"""
