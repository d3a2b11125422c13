"""ShopSense models package."""
