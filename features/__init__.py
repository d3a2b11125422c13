"""ShopSense features package."""
