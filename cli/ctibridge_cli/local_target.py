"""Where the CLI's AWS calls go: AWS as configured, or the running local stack (``--local``).

boto3 reads its endpoint, credentials and region from the process environment, and so do the layer's
clients (``ctibridge.aws``) the CLI drives; pointing the CLI at the local stack therefore sets those
variables for this process only, from what the stack published when it started
(``ctibridge_local.state_file``). An operator's shell keeps its own AWS variables untouched.
"""

from __future__ import annotations

import os

from ctibridge_local.state_file import LocalStackState, NoLocalStack, read

__all__ = ["LocalStackState", "NoLocalStack", "honour_aws_region", "use_local_stack"]


def honour_aws_region() -> None:
    """``AWS_REGION`` means the region too (botocore reads only ``AWS_DEFAULT_REGION``; Lambda sets both)."""
    region = os.environ.get("AWS_REGION")
    if region and not os.environ.get("AWS_DEFAULT_REGION"):
        os.environ["AWS_DEFAULT_REGION"] = region


def use_local_stack() -> LocalStackState:
    """Point this process's AWS clients at the running local stack; :class:`NoLocalStack` if none."""
    state = read()
    # The stack's values win over the shell's: a leftover AWS_PROFILE or real credentials must not
    # send a --local command to an AWS account.
    os.environ.pop("AWS_PROFILE", None)
    os.environ.pop("AWS_SESSION_TOKEN", None)
    os.environ.update(state.aws_environment())
    return state
