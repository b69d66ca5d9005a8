"""
Benchmarks of socketnet against raw Autobahn and python-socketio; run
C{python -m bench}.  Not part of the installed package: its dependencies
are in C{bench/requirements.txt}.
"""
