"""Pure protocol knowledge: digests, names, media types, manifests, ranges, error codes.

Nothing here does I/O or imports the rest of Dockyard.
"""
