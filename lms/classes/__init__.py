"""Advanced seminars and face-to-face classes: programmes, applications, sessions and QR attendance."""
