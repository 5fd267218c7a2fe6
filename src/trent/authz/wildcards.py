"""IAM wildcard patterns: `*` matches any run of characters (including none), `?` exactly one. Stdlib only."""

from __future__ import annotations


def glob_match(pattern: str, text: str, *, ignore_case: bool = False) -> bool:
    """Whole-string match. Linear backtracking to the last `*`, so no pattern can make it blow up (unlike a regex)."""
    if ignore_case:
        pattern, text = pattern.lower(), text.lower()
    # Fast paths for the shapes policies almost always use: "*", an exact name, "prefix*".
    if pattern == "*":
        return True
    if "*" not in pattern and "?" not in pattern:
        return pattern == text
    if pattern.endswith("*") and "*" not in pattern[:-1] and "?" not in pattern:
        return text.startswith(pattern[:-1])
    return _scan(pattern, text)


def _scan(pattern: str, text: str) -> bool:
    p = t = 0
    star, mark = -1, 0
    while t < len(text):
        if p < len(pattern) and pattern[p] in ("?", text[t]) and pattern[p] != "*":
            p, t = p + 1, t + 1
        elif p < len(pattern) and pattern[p] == "*":
            star, mark = p, t
            p += 1
        elif star >= 0:
            mark += 1
            p, t = star + 1, mark
        else:
            return False
    while p < len(pattern) and pattern[p] == "*":
        p += 1
    return p == len(pattern)
