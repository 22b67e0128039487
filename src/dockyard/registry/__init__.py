"""The OCI registry core: blobs, uploads, manifests, tags, referrers, deletion and GC."""
