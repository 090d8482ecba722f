// Anchor for the shared precompiled header; nothing else lives here.
