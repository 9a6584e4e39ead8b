"""Deployments: which Llama endpoints to evaluate, how to reach them and how to authenticate.

``model`` holds the records (``Deployment``, ``Compute``, ``DeploymentsConfig``); ``loader`` reads a
deployments YAML file, or the ``AZURE_INFERENCE_*`` shortcut, into them.
"""

from .loader import deployment_from_env, load_deployments
from .model import Compute, Deployment, DeploymentsConfig, openai_base_url

__all__ = ["Compute", "Deployment", "DeploymentsConfig", "deployment_from_env", "load_deployments", "openai_base_url"]
