"""The few blob operations `cargo xtask bench` needs on Azurite, which the Debian rclone
(1.60) cannot reach: its azureblob endpoint is a domain suffix, not a URL.

    azure_blob.py mkdir CONTAINER
    azure_blob.py put LOCAL CONTAINER/PATH
    azure_blob.py cat CONTAINER/PATH          (the blob's bytes on stdout)
    azure_blob.py purge CONTAINER/PREFIX      (every blob under PREFIX/)

The account comes from AZURE_STORAGE_CONNECTION_STRING, as for flytekit's adlfs.
"""

import os
import sys

from azure.core.exceptions import ResourceExistsError
from azure.storage.blob import BlobServiceClient


def main():
    service = BlobServiceClient.from_connection_string(os.environ["AZURE_STORAGE_CONNECTION_STRING"])
    command, *args = sys.argv[1:]
    if command == "mkdir":
        try:
            service.create_container(args[0])
        except ResourceExistsError:
            pass
        return
    container, _, path = args[-1].partition("/")
    client = service.get_container_client(container)
    if command == "put":
        with open(args[0], "rb") as data:
            client.upload_blob(path, data, overwrite=True)
    elif command == "cat":
        sys.stdout.buffer.write(client.download_blob(path).readall())
    elif command == "purge":
        for blob in client.list_blobs(name_starts_with=path.rstrip("/") + "/"):
            client.delete_blob(blob.name)
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
