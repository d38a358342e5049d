"""The activation study of the dissertation's chapter 3 (modulus vs the usual nonlinearities)."""
