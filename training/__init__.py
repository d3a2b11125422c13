"""ShopSense training package."""
