"""The xDS server and its snapshot cache: streams, nonces, versions, make-before-break."""
