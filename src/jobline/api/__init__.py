"""HTTP front-ends: the native API, the Modzy and JESS dialects, over one core."""
