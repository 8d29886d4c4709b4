"""Code that runs inside the sandbox, under the function's own interpreter. Imports nothing from lamina."""
