"""The call gateway: Asterisk ARI + RTP on one side, the OpenAI Realtime API on the other."""
