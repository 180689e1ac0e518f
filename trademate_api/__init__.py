"""TradeMate reference API: the system under test that the load suite starts on loopback."""
