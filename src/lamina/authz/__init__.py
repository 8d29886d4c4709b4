"""Authorization: IAM policy documents, their evaluation, and the map from operations to actions.

Pure functions and small caches; imports nothing from lamina outside this package.
"""
