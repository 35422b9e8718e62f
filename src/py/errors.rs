//! Maps core errors onto the exception classes of `cxone_cdp.errors` (filled in by the core work).
