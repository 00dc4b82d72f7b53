"""Start, wait and harvest as tasks, with the files going into a Prefect storage block."""

from prefect import flow
from prefect.filesystems import LocalFileSystem, RemoteFileSystem

from prefect_giga import GigaCredentials, harvest_run, start_run, wait_for_run

# Any filesystem block works: a LocalFileSystem, a RemoteFileSystem with an fsspec URL
# (s3://, gcs://, az://, memory:// ...), or prefect-aws's S3Bucket and its GCS/Azure cousins.
LocalFileSystem(basepath="shared-drive/giga").save("giga-reports", overwrite=True)


@flow(log_prints=True)
def nightly_report() -> None:
    credentials = GigaCredentials.load("my-giga-wallet")
    started = start_run(credentials, "Summarise today's support tickets", tier="$1.00")
    run = wait_for_run(credentials, started.run_id, poll_interval=2, timeout=900)

    drive = LocalFileSystem.load("giga-reports")
    output = harvest_run(
        credentials,
        run.id,
        dest="nightly",
        filesystem=drive,
        include=["*.md"],
        receipt=started.receipt,
    )
    for file in output.files:
        print(file.path, "->", file.location)

    scratch = RemoteFileSystem(basepath="memory://giga")  # an fsspec URL, no block needed
    copy = harvest_run(credentials, run.id, dest="copies", filesystem=scratch)
    print(len(copy.files), "file(s) also copied to", scratch.basepath)


nightly_report()
