"""The small HTML pieces a report shows: images embedded as data URIs, tables, the environment it ran in.

Everything is inline (no file or script is fetched), so a report opens offline.
"""

from __future__ import annotations

import base64
import html
import io
import platform
import time
from pathlib import Path


def png_data_uri(image) -> str:
    """A PIL image as a ``data:image/png;base64,...`` URI: the HTML carries the pixels itself."""
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def gallery_html(paths: list[Path], captions: list[str], truths: dict[str, str] | None = None,
                 width: int = 128) -> str:
    """Every image (embedded, scaled to ``width`` px, pixelated so small scenes stay sharp) above its caption,
    and the true caption below when it is known."""
    from fuse_edu.captioning import open_image

    truths = truths or {}
    figures = []
    for path, text in zip(paths, captions, strict=True):
        truth = truths.get(Path(path).name)
        below = f'<br><span style="color:#666">truth: {html.escape(truth)}</span>' if truth else ""
        figures.append(
            f'<figure style="display:inline-block;margin:6px;text-align:center;width:{width + 40}px">'
            f'<img src="{png_data_uri(open_image(Path(path)))}" alt="{html.escape(text)}" width="{width}" '
            f'style="image-rendering:pixelated">'
            f'<figcaption><code>{html.escape(Path(path).name)}</code><br><b>{html.escape(text)}</b>{below}'
            f'</figcaption></figure>')
    return "<div>" + "".join(figures) + "</div>"


def table_html(rows: list[dict], digits: int = 4) -> str:
    """One HTML table row per dict, columns in first-seen order; floats rounded to ``digits``."""
    columns = list(dict.fromkeys(key for row in rows for key in row))

    def cell(value) -> str:
        return f"{value:.{digits}f}" if isinstance(value, float) else html.escape(str(value))

    head = "".join(f"<th>{html.escape(c)}</th>" for c in columns)
    body = "".join("<tr>" + "".join(f"<td>{cell(row.get(c, ''))}</td>" for c in columns) + "</tr>" for row in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def environment_info(device) -> dict[str, str]:
    """What produced the report: versions, device, threads, platform, time (UTC)."""
    import torch
    import transformers

    import fuse_edu

    return {"fuse_edu": fuse_edu.__version__, "python": platform.python_version(), "torch": torch.__version__,
            "transformers": transformers.__version__, "device": str(device),
            "cuda": torch.cuda.get_device_name(0) if torch.cuda.is_available() else "none",
            "torch threads": str(torch.get_num_threads()), "platform": platform.platform(),
            "written (UTC)": time.strftime("%Y-%m-%d %H:%M:%S", time.gmtime())}
