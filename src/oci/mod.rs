//! OCI image formats: digests, blobs, layers, image layouts, docker archives. No cargo knowledge.
