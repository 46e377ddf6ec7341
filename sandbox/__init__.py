"""The AMK sandbox: plays AMK's partner API and bank in sandbox mode only."""
