"""A first run: one prompt through the run_prompt flow, with the saved block."""

import asyncio

from prefect_giga.flows import run_prompt

output = asyncio.run(
    run_prompt(
        "Write a haiku about data pipelines",
        credentials="my-giga-wallet",  # the block saved above
        dest="giga-outputs",
    )
)
print(output.run_id, output.status.value)
print(output.output_markdown)
for file in output.files:
    print(file.path, file.size, file.location)
