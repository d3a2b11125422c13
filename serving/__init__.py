"""ShopSense serving package."""
