"""The faust-streaming adapter: the only package that imports faust.

``app.py`` builds the faust App, its topics and the user-state table; ``runtime.py`` runs one
batch of events through the engine off the event loop and publishes the outputs;
``staging.py`` stages a batch's user states between the table and the engine thread;
``http.py`` serves ``/metrics`` and ``/health``.
"""
