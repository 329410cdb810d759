"""Data helpers shared by the tasks: dataset I/O (hub, local copies, demo slices), document fields, requests."""
