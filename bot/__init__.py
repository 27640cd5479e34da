"""crisisdesk: a WhatsApp-first support assistant for brands in a social-media crisis."""

__version__ = "0.1.0"
