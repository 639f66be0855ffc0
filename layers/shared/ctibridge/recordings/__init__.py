"""Call recordings: fetched from the PBX (SSRF-guarded) into S3, served through presigned URLs."""
