"""Cost: what a run cost, what fixed capacity costs, and what production traffic would cost.

Imports flow one way inside the package (each module imports only those above it in this list):

* ``fixed``       the arithmetic of capacity billed by the hour: MeasuredCapacity, instances needed, the month, PtuPlan;
* ``traffic``     TrafficProfile (requests a day, the peak) and TokenMeans: the one definition of an option's tokens per request;
* ``option``      CostOption, the one record of what a way of serving costs (per token or by the hour);
* ``provisioned`` provisioned throughput (PTU): PTUs at peak from the token mix, its CostOption, its break-even grid;
* ``projection``  the production projection, break-even, per-deployment costs of a run;
* ``figures``     the break-even chart of a projection (plotly);
* ``actual``      after a run: RunCost, what it really cost per deployment and tag;
* ``workload``    capacity and cost per request with the workload they hold for; per conversation and per turn.

The hourly price is ``Compute.hourly_usd`` (``llama_eval.deployments``); the token price per request
and the pre-run estimate are in ``llama_eval.catalog.prices`` and ``llama_eval.run.estimate``.
"""
