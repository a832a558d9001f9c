"""The state store on the Kubernetes API server (`store.KubernetesStore`)."""
