"""Downloads into the cache folder, checked before anything trusts them: the one downloader
(CIFAR-10's tarball, pretrained weights).

The file goes to a temp name beside its destination with a progress bar, its digest is
computed as it arrives, and it is renamed into place only when the digest matches: an
interrupted transfer, a dropped connection or a wrong file leaves nothing behind, so the
next start downloads again instead of trusting half a file.

The digest is md5 (CIFAR-10 publishes one) or a sha256 prefix: torchvision's weight files
carry the first hex digits of their sha256 in their names (resnet18-f37072fd.pth), and a
file is accepted when its sha256 starts with them, as torch.hub's check_hash does.
"""

from __future__ import annotations

import hashlib
import http.client
import re
import urllib.error
import urllib.request
from pathlib import Path

from .errors import AugtrainError
from .io import atomic_path

BLOCK = 1 << 16
# torch.hub's naming: NAME-<at least 8 hex digits of the sha256>.EXT
HASH_IN_NAME = re.compile(r"-([a-f0-9]{8,})\.")


def file_digest(path: str | Path, algorithm: str = "sha256") -> str:
    h = hashlib.new(algorithm)
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def hash_prefix(filename: str) -> str | None:
    """The sha256 prefix a torch.hub-style file name carries, or None."""
    found = HASH_IN_NAME.search(filename)
    return found.group(1) if found else None


def download(
    url: str,
    dest: str | Path,
    *,
    md5: str | None = None,
    sha256_prefix: str | None = None,
    what: str = "",
    offline_hint: str = "",
    timeout: float = 30.0,
) -> Path:
    """Download `url` to `dest`; `dest` appears only when the digest matches.

    A network failure is one AugtrainError line: `cannot download WHAT from URL (reason)`
    and then `offline_hint` (how to go on without network). A digest mismatch says both
    digests and that nothing was kept."""
    from .progress import progress_bar

    dest = Path(dest)
    algorithm, expected = ("md5", md5) if md5 else ("sha256", sha256_prefix)
    what = what or dest.name
    try:
        response = urllib.request.urlopen(url, timeout=timeout)
    except (urllib.error.URLError, http.client.HTTPException, OSError, TimeoutError) as e:
        raise _network_error(what, url, e, offline_hint) from None
    with response, atomic_path(dest) as tmp:
        total = int(response.headers.get("Content-Length") or 0) or None
        digest = hashlib.new(algorithm)
        received = 0
        with (
            open(tmp, "wb") as f,
            progress_bar(
                total, f"downloading {dest.name}", "B", leave=True, unit_scale=True
            ) as bar,
        ):
            while True:
                try:  # a network error here is the transfer's, not the temp file's
                    block = response.read(BLOCK)
                except (http.client.HTTPException, OSError, TimeoutError) as e:
                    raise _network_error(what, url, e, offline_hint) from None
                if not block:
                    break
                f.write(block)
                digest.update(block)
                received += len(block)
                bar.update(len(block))
        if total is not None and received != total:  # the server closed early
            raise _network_error(
                what, url, http.client.IncompleteRead(b"", total - received), offline_hint
            )
        found = digest.hexdigest()
        if expected and not found.startswith(expected.lower()):
            shown = expected if md5 else f"{expected}..."
            raise AugtrainError(
                f"checksum mismatch for {url}: {algorithm} {found}, expected {shown}; "
                "nothing was kept"
            )
    return dest


def _network_error(what: str, url: str, e: BaseException, hint: str) -> AugtrainError:
    return AugtrainError(
        f"cannot download {what} from {url} ({_reason(e)})" + (f"; {hint}" if hint else "")
    )


def _reason(e: BaseException) -> str:
    if isinstance(e, http.client.IncompleteRead):
        return f"connection closed with {e.expected} bytes still to come"
    reason = getattr(e, "reason", None) or e
    text = str(reason).strip().splitlines()
    return text[0] if text else type(e).__name__
