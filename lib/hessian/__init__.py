"""Hessian spectra of any run (reference/diversity.md §3): PyHessian's algorithms on a backend-neutral
Hessian-vector product (lib.backend.hessian_vector), with its defaults and its bugs fixed.

spectrum.py  top eigenvalues (power iteration with deflation), Hutchinson trace, stochastic Lanczos
             quadrature, the density curve, and the exact Hessian of small models
"""
