"""Admission: the pure policy that decides which ready task may start now.

Everything here is a function of immutable inputs (limits, what runs, pressure, tokens, the
time) and returns a decision with a reason; nothing here touches the database, the clock or
the event loop. The dispatcher builds the inputs, asks, and acts on the answer.
"""
