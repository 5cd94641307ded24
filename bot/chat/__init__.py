"""Chat platforms behind one small protocol (`base.Chat`). The core never imports an SDK."""
