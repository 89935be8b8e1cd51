"""The admin console's server side: the live dashboard and the players screens."""
