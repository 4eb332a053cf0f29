"""Backend-specific code (DESIGN.md, principle 6): each concept is one module naming the interface and a
`_tensorflow` / `_jax` pair implementing it; `implementation` picks the running Keras backend's."""

import importlib

BACKEND_MODULES = ("tensorflow", "jax")


def implementation(what: str, module: str, class_name: str):
    """The class `<module>_<backend>.<class_name with the backend's prefix>` for the running Keras backend,
    e.g. implementation("Hessian-vector products", "lib.backend.hessian_vector", "HessianVectorProduct")
    is lib.backend.hessian_vector_jax.JaxHessianVectorProduct on JAX. `what` names the concept in the
    error for any other backend."""
    import keras

    backend = keras.backend.backend()
    if backend not in BACKEND_MODULES:
        raise NotImplementedError(f"{what} are implemented for {' and '.join(BACKEND_MODULES)}, not {backend}")
    prefix = {"tensorflow": "TensorFlow", "jax": "Jax"}[backend]
    return getattr(importlib.import_module(f"{module}_{backend}"), prefix + class_name)
